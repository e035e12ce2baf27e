"""COCO run-length encoding of binary masks, as pycocotools writes it.

COCO counts runs over the mask in column-major (Fortran) order, starting with a run of
zeros (possibly empty). The compressed string form stores each count, after the first two as
the difference to the count two places back, in 5-bit groups (LEB128-like), each group as
one ASCII character from 48 ('0') to 111 ('o'), 0x20 meaning "more groups follow".
"""
import numpy as np


def rle_counts(binary: np.ndarray) -> list[int]:
    """Run lengths of an HxW boolean mask in column-major order, starting with zeros."""
    flat = np.asarray(binary, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def counts_to_string(counts: list[int]) -> str:
    chars = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end in all ones
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_encode(binary: np.ndarray) -> dict:
    """{"size": [h, w], "counts": compressed string}, the form COCO files hold."""
    height, width = binary.shape
    return {"size": [int(height), int(width)], "counts": counts_to_string(rle_counts(binary))}


def rle_decode(rle: dict) -> np.ndarray:
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    values = np.zeros(sum(counts), dtype=bool)
    position = 0
    for i, count in enumerate(counts):
        if i % 2:
            values[position:position + count] = True
        position += count
    return values.reshape((height, width), order="F")


def bbox(binary: np.ndarray) -> list[int]:
    """[x, y, width, height] of the mask's pixels."""
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def coco_annotations(*, label_map: np.ndarray, image_id: int, category_ids: dict[int, int], first_id: int) -> list[dict]:
    """One annotation per class present in the label map (classes not in category_ids are skipped)."""
    annotations = []
    for index in np.unique(label_map).tolist():
        if index not in category_ids:
            continue
        binary = label_map == index
        annotations.append({
            "id": first_id + len(annotations), "image_id": image_id, "category_id": category_ids[index],
            "segmentation": rle_encode(binary), "area": int(binary.sum()), "bbox": bbox(binary), "iscrowd": 0,
        })
    return annotations
