import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ImageFolder, LabelledImageFolder, listImageFiles, loadCocoDataset, loadVocDataset, resolveInsideRoot } from '../index';
import { removeDir, tempDir, writeImage } from './helpers';

jest.setTimeout(60_000);

const coco = (fileName: string) => ({
  images: [{ id: 1, file_name: fileName, width: 8, height: 8 }],
  categories: [{ id: 1, name: 'thing' }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 4, 4] }],
});

const vocXml = (filename: string) =>
  `<annotation><filename>${filename}</filename><size><width>8</width><height>8</height></size>` +
  `<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object></annotation>`;

/** The rejection of `p`, which must be a DataError. */
async function dataError(p: Promise<unknown>): Promise<DataError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  return err as DataError;
}

describe('datasets stay inside their folder', () => {
  let base: string;
  let root: string;
  let outside: string;
  beforeEach(async () => {
    base = tempDir('contain');
    root = path.join(base, 'dataset');
    outside = path.join(base, 'private');
    fs.mkdirSync(root);
    await writeImage(path.join(root, 'ok.png'), 8, 8);
    await writeImage(path.join(outside, 'secret.png'), 8, 8);
  });
  afterEach(() => removeDir(base));

  const writeCoco = (fileName: string) => {
    const file = path.join(root, 'annotations.json');
    fs.writeFileSync(file, JSON.stringify(coco(fileName)));
    return file;
  };

  it.each([
    ['..', '../private/secret.png', /images\[0\]\.file_name '\.\.\/private\/secret\.png' resolves to .*outside the dataset folder/],
    ['nested ..', 'sub/../../private/secret.png', /outside the dataset folder/],
    ['absolute', '/etc/passwd', /images\[0\]\.file_name '\/etc\/passwd' is an absolute path/],
    ['Windows ..', '..\\private\\secret.png', /images\[0\]\.file_name '\.\.\\private\\secret\.png' resolves to .*outside/],
    ['Windows drive', 'C:\\Windows\\win.ini', /is an absolute path/],
    ['Windows root', '\\\\server\\share\\x.png', /is an absolute path/],
  ])('COCO file_name with %s is refused, naming the file and the entry', async (_label, fileName, pattern) => {
    const file = writeCoco(fileName);
    const err = await dataError(loadCocoDataset(file));
    expect(err.file).toBe(file);
    expect(err.message).toMatch(pattern);
    expect(err.message).toMatch(/--allow-outside-root/);
  });

  it('COCO: a symlink out of the folder is refused; inside ones, Windows separators and the opt-in work', async () => {
    fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'link.png'));
    const file = writeCoco('link.png');
    const err = await dataError(loadCocoDataset(file));
    expect(err.message).toMatch(/images\[0\]\.file_name 'link\.png' is a symlink to .*secret\.png, outside the dataset folder/);
    expect((await loadCocoDataset(file, undefined, { allowOutsideRoot: true })).images[0].file).toBe(path.join(root, 'link.png'));

    // a symlinked dataset root and a symlink that stays inside are fine
    fs.symlinkSync(path.join(root, 'ok.png'), path.join(root, 'alias.png'));
    fs.symlinkSync(root, path.join(base, 'linked-root'));
    const viaLink = path.join(base, 'linked-root', 'annotations.json');
    fs.writeFileSync(file, JSON.stringify(coco('alias.png')));
    expect((await loadCocoDataset(viaLink)).images[0].file).toBe(path.join(base, 'linked-root', 'alias.png'));

    fs.mkdirSync(path.join(root, 'sub'));
    fs.writeFileSync(file, JSON.stringify(coco('sub\\..\\ok.png')));
    expect((await loadCocoDataset(file)).images[0].file).toBe(path.join(root, 'ok.png'));

    fs.writeFileSync(file, JSON.stringify(coco('../private/secret.png')));
    expect((await loadCocoDataset(file, undefined, { allowOutsideRoot: true })).images[0].file).toBe(path.join(outside, 'secret.png'));
  });

  it('VOC: <filename> and split ids that leave their folders are refused', async () => {
    fs.mkdirSync(path.join(root, 'Annotations'));
    fs.mkdirSync(path.join(root, 'JPEGImages'));
    fs.mkdirSync(path.join(root, 'ImageSets', 'Main'), { recursive: true });
    const ann = path.join(root, 'Annotations', '000001.xml');
    for (const [filename, pattern] of [
      ['../../private/secret.png', /<filename> '\.\.\/\.\.\/private\/secret\.png' resolves to .*outside the dataset folder/],
      ['/etc/passwd', /<filename> '\/etc\/passwd' is an absolute path/],
      ['..\\..\\private\\secret.png', /<filename> '\.\.\\\.\.\\private\\secret\.png' resolves to/],
    ] as const) {
      fs.writeFileSync(ann, vocXml(filename));
      const err = await dataError(loadVocDataset(root));
      expect(err.file).toBe(ann);
      expect(err.message).toMatch(pattern);
    }
    fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'JPEGImages', 'x.png'));
    fs.writeFileSync(ann, vocXml('x.png'));
    expect((await dataError(loadVocDataset(root))).message).toMatch(/<filename> 'x\.png' is a symlink to .*secret\.png/);
    expect((await loadVocDataset(root, undefined, { allowOutsideRoot: true })).images[0].file).toBe(path.join(root, 'JPEGImages', 'x.png'));

    fs.writeFileSync(path.join(outside, 'evil.xml'), vocXml('ok.png'));
    const list = path.join(root, 'ImageSets', 'Main', 'train.txt');
    fs.writeFileSync(list, '../../private/evil\n');
    const err = await dataError(loadVocDataset(root, 'train'));
    expect(err.file).toBe(list);
    expect(err.message).toMatch(/image id '\.\.\/\.\.\/private\/evil\.xml' resolves to .*outside/);
  });

  it('image folders: a symlink out of the folder is refused, one inside is listed', async () => {
    fs.symlinkSync(path.join(root, 'ok.png'), path.join(root, 'alias.png'));
    expect((await ImageFolder.open(root)).files.map((f) => path.basename(f))).toEqual(['alias.png', 'ok.png']);
    fs.mkdirSync(path.join(root, 'sub'));
    fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'sub', 'leak.png'));
    for (const open of [() => ImageFolder.open(root), async () => { for await (const _ of listImageFiles(root)) void _; }]) {
      const err = await dataError(open());
      expect(err.file).toBe(root);
      expect(err.message).toMatch(/entry 'sub\/leak\.png' is a symlink to .*private\/secret\.png, outside the dataset folder/);
    }
    expect((await ImageFolder.open(root, { allowOutsideRoot: true })).length).toBe(3);

    // labelled folders: the root is the top folder, so a class may link to a sibling class's file
    const labelled = path.join(base, 'labelled');
    await writeImage(path.join(labelled, 'a', '1.png'), 8, 8);
    fs.mkdirSync(path.join(labelled, 'b'));
    fs.symlinkSync(path.join(labelled, 'a', '1.png'), path.join(labelled, 'b', '1.png'));
    expect((await LabelledImageFolder.open(labelled)).length).toBe(2);
    fs.symlinkSync(path.join(outside, 'secret.png'), path.join(labelled, 'b', '2.png'));
    expect((await dataError(LabelledImageFolder.open(labelled))).message).toMatch(/entry 'b\/2\.png' is a symlink/);
  });

  it('resolveInsideRoot returns the absolute path of an entry inside', () => {
    expect(resolveInsideRoot('t', 'f.json', root, 'a/b.png', 'x')).toBe(path.join(root, 'a', 'b.png'));
    expect(resolveInsideRoot('t', 'f.json', root, 'a\\b.png', 'x')).toBe(path.join(root, 'a', 'b.png'));
    expect(() => resolveInsideRoot('t', 'f.json', root, '..', 'x')).toThrow(DataError);
  });
});
