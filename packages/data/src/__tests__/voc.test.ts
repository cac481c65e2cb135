import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, loadVocDataset, parseVocXml, parseXml, toCocoJson, VOC_CLASSES, XmlSyntaxError } from '../index';
import { removeDir, tempDir } from './helpers';

const vocXml = (objects: string, size = '<width>50</width><height>40</height><depth>3</depth>') => `<?xml version="1.0"?>
<!-- written by a test -->
<annotation verified="no">
  <folder>VOC2007</folder>
  <filename>000001.jpg</filename>
  <source><database>The VOC2007 Database</database></source>
  <size>${size}</size>
  <segmented>0</segmented>
  ${objects}
</annotation>
`;
const obj = (name: string, box: [number, number, number, number], extra = '') =>
  `<object><name>${name}</name><pose>Left</pose>${extra}<bndbox><xmin>${box[0]}</xmin><ymin>${box[1]}</ymin><xmax>${box[2]}</xmax><ymax>${box[3]}</ymax></bndbox></object>`;

describe('parseXml', () => {
  it('reads elements, text, entities and CDATA, dropping attributes and comments', () => {
    const root = parseXml('<?xml version="1.0"?>\n<a x="1" y=\'2\'><b>t &amp; &lt;u&gt; &#65;&#x42;</b><!-- c --><c/><d><![CDATA[<raw>]]></d></a>\n');
    expect(root.name).toBe('a');
    expect(root.children.map((c) => c.name)).toEqual(['b', 'c', 'd']);
    expect(root.children[0].text).toBe('t & <u> AB');
    expect(root.children[2].text).toBe('<raw>');
    expect(root.children[1].line).toBe(2);
  });

  it.each([
    ['<a><b></a>', /line 1: closing tag <\/a> does not match <b>/],
    ['<a>\n<b>\n</a></b>', /line 3: closing tag/],
    ['<a>x', /document ends inside <a>/],
    ['<a></a><b></b>', /second root element <b>/],
    ['junk<a></a>', /text outside the root element/],
    ['<a>&nbsp;</a>', /unknown entity '&nbsp;'/],
    ['<a>AT&T</a>', /'&' must start an entity/],
    ['<!DOCTYPE a><a/>', /DOCTYPE/],
    ['<a b></a>', /attribute 'b' in <a> has no value/],
    ['<a b=1></a>', /must be quoted/],
    ['', /no root element/],
  ])('rejects %j', (text, pattern) => {
    expect(() => parseXml(text)).toThrow(XmlSyntaxError);
    expect(() => parseXml(text)).toThrow(pattern);
  });
});

describe('parseVocXml', () => {
  it('reads size, objects, difficult and truncated', () => {
    const ann = parseVocXml(vocXml(obj('dog', [1, 2, 30, 40], '<truncated>1</truncated><difficult>0</difficult>') + obj('cat', [5, 6, 7, 8])), 'x.xml');
    expect(ann).toEqual({
      filename: '000001.jpg',
      width: 50,
      height: 40,
      objects: [
        { name: 'dog', xmin: 1, ymin: 2, xmax: 30, ymax: 40, difficult: false, truncated: true },
        { name: 'cat', xmin: 5, ymin: 6, xmax: 7, ymax: 8, difficult: false, truncated: false },
      ],
    });
  });

  it.each([
    ['<annotation><object/></annotation>', /line 1: <annotation> has no <size>/],
    [vocXml('', '<width>50</width>'), /<size> has no <height>/],
    [vocXml('', '<width>0</width><height>4</height>'), /positive integer width and height/],
    [vocXml(obj('dog', [1, 2, 30, 40]).replace('<xmin>1</xmin>', '<xmin>one</xmin>')), /<xmin> must be a number, got 'one'/],
    [vocXml(obj('dog', [30, 2, 1, 40])), /xmax < xmin/],
    [vocXml(obj('dog', [1, 2, 3, 4], '<difficult>yes</difficult>')), /<difficult> must be 0 or 1/],
    [vocXml('<object><name> </name></object>'), /empty <name>/],
    ['<voc></voc>', /root element is <voc>, expected <annotation>/],
    [vocXml(obj('dog', [1, 2, 3, 4])).replace('</annotation>', ''), /is not well-formed XML: line \d+: document ends inside <annotation>/],
  ])('malformed file %#: DataError naming the file and line', (text, pattern) => {
    let err: unknown;
    try {
      parseVocXml(text, '/data/Annotations/x.xml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).file).toBe('/data/Annotations/x.xml');
    expect((err as DataError).message).toMatch(pattern);
  });
});

describe('loadVocDataset', () => {
  let dir: string;
  const writeAnn = (id: string, text: string) => fs.writeFileSync(path.join(dir, 'Annotations', `${id}.xml`), text);
  beforeEach(() => {
    dir = tempDir('voc');
    fs.mkdirSync(path.join(dir, 'Annotations'));
    fs.mkdirSync(path.join(dir, 'JPEGImages'));
    fs.mkdirSync(path.join(dir, 'ImageSets', 'Main'), { recursive: true });
    writeAnn('000001', vocXml(obj('dog', [1, 1, 50, 40]) + obj('person', [10, 5, 19, 14], '<difficult>1</difficult>')));
    writeAnn('000002', vocXml(obj('cat', [2, 3, 4, 5])).replace('<filename>000001.jpg</filename>', ''));
    fs.writeFileSync(path.join(dir, 'ImageSets', 'Main', 'val.txt'), '000002\n\n');
  });
  afterEach(() => removeDir(dir));

  it('reads every annotation with VOC class ids and detectron2 box conversion', async () => {
    const ds = await loadVocDataset(dir);
    expect(ds.categories).toHaveLength(20);
    expect(ds.categories.map((c) => c.name)).toEqual(VOC_CLASSES);
    expect(ds.images).toEqual([
      { id: 1, file: path.join(dir, 'JPEGImages', '000001.jpg'), width: 50, height: 40 },
      { id: 2, file: path.join(dir, 'JPEGImages', '000002.jpg'), width: 50, height: 40 },
    ]);
    expect(ds.annotations).toEqual([
      { id: 1, imageId: 1, categoryId: 12, bbox: [0, 0, 50, 40], area: 2000, iscrowd: 0, difficult: false, truncated: false },
      { id: 2, imageId: 1, categoryId: 15, bbox: [9, 4, 10, 10], area: 100, iscrowd: 0, difficult: true, truncated: false },
      { id: 3, imageId: 2, categoryId: 8, bbox: [1, 2, 3, 3], area: 9, iscrowd: 0, difficult: false, truncated: false },
    ]);
    expect(toCocoJson(ds, { difficult: 'crowd' }).annotations[1].iscrowd).toBe(1);
    expect(toCocoJson(ds, { difficult: 'drop' }).annotations.map((a) => a.id)).toEqual([1, 3]);
  });

  it('reads a split, and names classes outside VOC by sorted name', async () => {
    const ds = await loadVocDataset(dir, 'val');
    expect(ds.images.map((im) => path.basename(im.file))).toEqual(['000002.jpg']);
    writeAnn('000003', vocXml(obj('widget', [1, 1, 5, 5])));
    const custom = await loadVocDataset(dir);
    expect(custom.categories.map((c) => c.name)).toEqual(['cat', 'dog', 'person', 'widget']);
    const given = await loadVocDataset(dir, undefined, { classes: ['widget', 'person', 'dog', 'cat'] });
    expect(given.annotations.map((a) => a.categoryId)).toEqual([3, 2, 4, 1]);
  });

  describe('bad input', () => {
    it('missing folder, missing split list, missing listed annotation', async () => {
      await expect(loadVocDataset(path.join(dir, 'nope'))).rejects.toThrow(/Annotations: folder does not exist/);
      await expect(loadVocDataset(dir, 'train')).rejects.toThrow(/train\.txt: split list 'train' does not exist/);
      fs.writeFileSync(path.join(dir, 'ImageSets', 'Main', 'test.txt'), '000009\n');
      const err = await loadVocDataset(dir, 'test').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe(path.join(dir, 'Annotations', '000009.xml'));
    });

    it('malformed XML names the file', async () => {
      writeAnn('000002', '<annotation><size><width>5</width></annotation>');
      const err = await loadVocDataset(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe(path.join(dir, 'Annotations', '000002.xml'));
      expect((err as DataError).message).toMatch(/not well-formed XML: line 1: closing tag <\/annotation> does not match <size>/);
    });

    it('a box outside its image', async () => {
      writeAnn('000002', vocXml(obj('cat', [2, 3, 60, 5])));
      const err = await loadVocDataset(dir).catch((e: unknown) => e);
      expect((err as DataError).file).toBe(path.join(dir, 'Annotations', '000002.xml'));
      expect((err as DataError).message).toMatch(/object 'cat' \(xmin 2, ymin 3, xmax 60, ymax 5\) lies outside its 50x40 image/);
    });

    it('a class not in the given list', async () => {
      await expect(loadVocDataset(dir, undefined, { classes: ['dog'] })).rejects.toThrow(/object class 'person' is not in the class list \(dog\)/);
    });
  });
});
