"""The stored form of a per-image feature vector (ml.features): float32 bytes. One format for
every place that keeps vectors (review items' teacher features, images' seed embeddings);
numpy only, so web processes can read them without torch."""

import numpy as np


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from_bytes(data) -> np.ndarray:
    """Accepts bytes or a database's memoryview."""
    return np.frombuffer(bytes(data), dtype=np.float32)
