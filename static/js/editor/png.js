// Single-channel 8-bit PNGs of class indices. canvas.toBlob cannot write them and <img>
// decoding may colour-manage, so both directions are done here, byte-exact.
const SIGNATURE = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);
const GRAYSCALE = 0;
const PALETTE = 3; // a paletted PNG's indices are the class indices (as PIL reads mode P)

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(...parts) {
  let crc = 0xffffffff;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  const typeBytes = new TextEncoder().encode(type);
  view.setUint32(0, data.length);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(typeBytes, data));
  return out;
}

async function transform(bytes, stream) {
  const piped = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(piped).arrayBuffer());
}

/** Encode a label map (Uint8Array, row-major) as a grayscale PNG Blob. */
export async function encodeIndexPng(labels, width, height) {
  if (labels.length !== width * height) throw new Error(`Label map holds ${labels.length} pixels, not ${width}x${height}.`);
  // Filter "Up" on every row but the first: rows of a label map mostly repeat, so they become zeros.
  const stride = width + 1;
  const raw = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const out = y * stride;
    if (y === 0) {
      raw[out] = 0;
      raw.set(labels.subarray(0, width), 1);
      continue;
    }
    raw[out] = 2;
    for (let x = 0; x < width; x++) raw[out + 1 + x] = (labels[row + x] - labels[row - width + x]) & 0xff;
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, GRAYSCALE, 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace
  const compressed = await transform(raw, new CompressionStream("deflate")); // zlib, as PNG wants
  return new Blob([SIGNATURE, chunk("IHDR", header), chunk("IDAT", compressed), chunk("IEND", new Uint8Array(0))],
    { type: "image/png" });
}

/** Decode an 8-bit grayscale or paletted, non-interlaced PNG into {width, height, labels}. */
export async function decodeIndexPng(buffer) {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < SIGNATURE.length; i++) {
    if (bytes[i] !== SIGNATURE[i]) throw new Error("The mask is not a PNG file.");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0, height = 0;
  const idat = [];
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const [depth, colour, , , interlace] = data.subarray(8, 13);
      if (depth !== 8 || (colour !== GRAYSCALE && colour !== PALETTE) || interlace !== 0) {
        throw new Error(`The mask PNG must be 8-bit single-channel and not interlaced (depth ${depth}, colour type ${colour}).`);
      }
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    at += 12 + length;
  }
  if (!width || !idat.length) throw new Error("The mask PNG has no image data.");
  const raw = await transform(new Blob(idat), new DecompressionStream("deflate"));
  return { width, height, labels: unfilter(raw, width, height) };
}

function unfilter(raw, width, height) {
  const stride = width + 1;
  if (raw.length < stride * height) throw new Error("The mask PNG is truncated.");
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * stride];
    const src = y * stride + 1;
    const row = y * width;
    const up = row - width;
    for (let x = 0; x < width; x++) {
      const left = x > 0 ? out[row + x - 1] : 0;
      const above = y > 0 ? out[up + x] : 0;
      const corner = x > 0 && y > 0 ? out[up + x - 1] : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = above;
      else if (filter === 3) predictor = (left + above) >> 1;
      else if (filter === 4) predictor = paeth(left, above, corner);
      else if (filter !== 0) throw new Error(`The mask PNG uses unknown filter ${filter}.`);
      out[row + x] = (raw[src + x] + predictor) & 0xff;
    }
  }
  return out;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}
