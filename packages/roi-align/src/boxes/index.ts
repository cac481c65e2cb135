export { batchedNms, boxArea, boxConvert, boxIou, clipBoxes, nms } from './box_ops';
export {
  BOX_FORMATS,
  batchedNmsArray,
  boxAreaArray,
  boxConvertArray,
  boxIouArray,
  boxPairIou,
  clipBoxesArray,
  nmsArray,
} from './box_array';
export type { Box, BoxesLike, BoxFormat } from './box_array';
