/**
 * `milec/runtime`: the runtime as a library (package.json `exports`). The typed module that
 * `milec compile -o DIR` writes imports everything it needs from here, and so can the code
 * that uses it: opening a device, the compiled model, safetensors files, and the weight
 * name mappings of `--weights-map`.
 *
 * Anything not exported here is internal and may change without notice.
 */
export { type GpuContext, type OpenOptions, openDevice } from './device.ts';
export {
  CompiledModel,
  type CompiledModelOptions,
  type LoadOptions,
  type ModelSpec,
  type ParamSpec,
  type SafetensorsLoadOptions,
} from './compiled-model.ts';
export { graphFromJson, graphToJson, GRAPH_FORMAT, type SerializedGraph } from '../compiler/emit/graph-json.ts';
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsFile,
  type TensorToWrite,
  writeSafetensorsAtomic,
} from './safetensors.ts';
export {
  interpolatePosEmbed,
  type LoadedWeights,
  type LoadWeightsOptions,
  loadWeights,
  MAPPINGS,
  type MapRule,
  mapWeights,
  type ModelParamInfo,
  type PosInterp,
  WeightsError,
  type WeightsMapping,
  weightsMapping,
  type WeightsSource,
  weightsSources,
} from './weights.ts';
export { displayPath, internalPath } from '../core/param-path.ts';
