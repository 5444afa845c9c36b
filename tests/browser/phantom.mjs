// A synthetic chest CT series for the viewer's browser test, written as a hospital CD export would
// be: DICOM Part 10 files without extensions under DICOM/, zipped. The phantom is in Hounsfield
// units (signed 16-bit, rescale intercept −1024): air, a body with a fat rim, two lungs with vessels,
// a heart, a vertebra with its canal, the table, and a nodule in the right lung that grows and
// shrinks across the slices, so that the lung and soft-tissue windows look clearly different.

import { crc32, deflateRawSync } from 'node:zlib';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
const LONG_VRS = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

function element(group, elem, vr, value) {
  let data = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'latin1');
  if (data.length % 2) data = Buffer.concat([data, Buffer.from([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]);
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(data.length, 8); else head.writeUInt16LE(data.length, 6);
  return Buffer.concat([head, data]);
}
const us = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };

/** One slice: HU at (x, y) for slice `z` of `count`. */
function hounsfield(x, y, z, count) {
  const inside = (cx, cy, rx, ry) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  const noise = ((x * 73 + y * 151 + z * 37) % 17) - 8;
  if (y >= 214 && y <= 219 && x >= 24 && x <= 232) return 250 + noise;
  if (!inside(128, 124, 112, 84)) return -1000 + noise;
  if (!inside(128, 124, 104, 77)) return -100 + noise;
  if (inside(128, 178, 15, 15)) return inside(128, 172, 5, 5) ? 20 + noise : 750 + noise * 4;
  if (inside(150, 132, 30, 27)) return 45 + noise;
  const nodule = 6 - Math.abs(z - count / 2);
  if (nodule > 0 && inside(82, 100, nodule + 1, nodule + 1)) return 35 + noise;
  for (const [cx, cy] of [[84, 116], [172, 116]]) {
    if (inside(cx, cy, 36, 52)) {
      const scatter = (Math.imul(x, 73856093) ^ Math.imul(y, 19349663) ^ Math.imul(z, 83492791)) >>> 0;
      const vessel = scatter % 173 === 0 || inside(cx + 10, cy + 8 - z, 3, 3) || inside(cx - 12, cy - 20 + z, 2, 2);
      return vessel ? 30 + noise : -860 + noise * 3;
    }
  }
  return 40 + noise;
}

function slice(n, count, uids) {
  const rows = 256, cols = 256;
  const pixels = Buffer.alloc(rows * cols * 2);
  for (let y = 0; y < rows; y += 1) {
    for (let x = 0; x < cols; x += 1) pixels.writeInt16LE(hounsfield(x, y, n, count) + 1024, (y * cols + x) * 2);
  }
  const sop = `${uids.series}.${n + 1}`;
  const dataset = Buffer.concat([
    element(0x0008, 0x0016, 'UI', CT_IMAGE_STORAGE), element(0x0008, 0x0018, 'UI', sop),
    element(0x0008, 0x0020, 'DA', '20261014'), element(0x0008, 0x0060, 'CS', 'CT'),
    element(0x0008, 0x1030, 'LO', 'CT CHEST'), element(0x0008, 0x103e, 'LO', 'Axial 5 mm'),
    element(0x0010, 0x0010, 'PN', 'Zanzibar-Quint^Amelia'), element(0x0010, 0x0020, 'LO', 'H-20318'),
    element(0x0018, 0x0015, 'CS', 'CHEST'), element(0x0020, 0x000d, 'UI', uids.study),
    element(0x0020, 0x000e, 'UI', uids.series), element(0x0020, 0x0011, 'IS', '2'),
    element(0x0020, 0x0013, 'IS', String(n + 1)), element(0x0028, 0x0002, 'US', us(1)),
    element(0x0028, 0x0004, 'CS', 'MONOCHROME2'), element(0x0028, 0x0010, 'US', us(rows)),
    element(0x0028, 0x0011, 'US', us(cols)), element(0x0028, 0x0100, 'US', us(16)),
    element(0x0028, 0x0101, 'US', us(16)), element(0x0028, 0x0102, 'US', us(15)),
    element(0x0028, 0x0103, 'US', us(1)), element(0x0028, 0x1050, 'DS', '40'),
    element(0x0028, 0x1051, 'DS', '400'), element(0x0028, 0x1052, 'DS', '-1024'),
    element(0x0028, 0x1053, 'DS', '1'), element(0x7fe0, 0x0010, 'OW', pixels),
  ]);
  const meta = Buffer.concat([
    element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])), element(0x0002, 0x0002, 'UI', CT_IMAGE_STORAGE),
    element(0x0002, 0x0003, 'UI', sop), element(0x0002, 0x0010, 'UI', EXPLICIT_VR_LE),
    element(0x0002, 0x0012, 'UI', '2.25.1234567'),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(meta.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x0002, 0x0000, 'UL', length), meta, dataset]);
}

/** A zip (deflate) of `files`: [name, bytes] pairs. */
function zip(files) {
  const locals = [], centrals = [];
  let offset = 0;
  for (const [name, data] of files) {
    const packed = deflateRawSync(data);
    const nameBytes = Buffer.from(name, 'utf8');
    const fields = (h, at) => {
      h.writeUInt16LE(20, at); h.writeUInt16LE(0x0800, at + 2); h.writeUInt16LE(8, at + 4);
      h.writeUInt32LE(0, at + 6); h.writeUInt32LE(crc32(data), at + 10);
      h.writeUInt32LE(packed.length, at + 14); h.writeUInt32LE(data.length, at + 18);
      h.writeUInt16LE(nameBytes.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); fields(local, 4);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); fields(central, 6);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** `count` slices zipped as DICOM/IM0001…, in the order a CD writer might put them (not sorted). */
export function ctSeriesZip(count) {
  const uids = { study: '2.25.90112233445566', series: '2.25.90112233445566.2' };
  const order = Array.from({ length: count }, (_, i) => (i * 5) % count);
  return zip(order.map((n) => [`DICOM/IM${String(n + 1).padStart(4, '0')}`, slice(n, count, uids)]));
}
