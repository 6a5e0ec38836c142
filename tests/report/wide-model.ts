/** Synthetic large models for planning tests. */

/** A 12-layer, 1536-wide transformer classifier: about 390M parameters. */
export function wideTransformer(depth = 12, dim = 1536): string {
  return `use std.nn, std.attention

model Wide {
  config { vocab = 30522, seq = 512, dim = ${dim}, heads = 16, hidden = ${4 * dim}, depth = ${depth}, classes = 2 }
  input tokens: i32[B, seq]
  input labels: i32[B]
  embed  = Embedding(vocab, dim)
  pos    = Embedding(seq, dim)
  blocks = repeat depth TransformerBlock(dim, heads, hidden, p = 0.1)
  norm   = LayerNorm(dim, 1e-5)
  head   = Linear(dim, classes)
  forward {
    let x = blocks(embed(tokens) + pos.weight)
    output logits = head(mean(norm(x), dim = 1))
    loss cross_entropy(logits, labels)
  }
}

tune lora_qv for Wide {
  train head
  lora(r = 16, alpha = 32) on blocks.*.attn.{query, value}
}
`;
}
