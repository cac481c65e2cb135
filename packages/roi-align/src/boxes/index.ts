export { batchedNms, boxArea, boxConvert, boxIou, clipBoxes, nms } from './box-ops';
export {
  BOX_FORMATS,
  batchedNmsArray,
  boxAreaArray,
  boxConvertArray,
  boxIouArray,
  boxPairIou,
  clipBoxesArray,
  nmsArray,
} from './box-array';
export type { Box, BoxesLike, BoxFormat } from './box-array';
