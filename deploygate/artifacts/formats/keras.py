"""Keras models: Keras 3 ``.keras`` zips and HDF5 ``.h5``/``.hdf5`` files, read with h5py
(the optional ``deploygate[keras]`` extra), never loaded with Keras."""

from __future__ import annotations

import struct

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.keras"
"""The module that reads the format and defines its caps."""

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_ZIP_FIRST = (b"metadata.json", b"config.json", b"model.weights.h5")
"""The members Keras writes first into a ``.keras`` zip (a PyTorch zip starts ``<name>/``)."""


def sniff(head: bytes, size: int) -> bool:
    """An HDF5 superblock at byte 0, or a zip whose first member is a Keras archive's."""
    if head.startswith(HDF5_MAGIC):
        return True
    if not head.startswith(b"PK\x03\x04") or len(head) < 30:
        return False
    (name_len,) = struct.unpack("<H", head[26:28])
    return head[30:30 + name_len] in KERAS_ZIP_FIRST


FORMAT = Format(
    name="keras",
    reader=READER,
    extensions=(".keras", ".h5", ".hdf5"),
    sniff=sniff,
    caps=(
        Limit(READER, "MAX_CONFIG_BYTES", "bytes",
              "A Keras model's JSON config (attribute or config.json), read before parsing."),
        Limit(READER, "MAX_DATASETS", "items",
              "HDF5 objects visited in a Keras file's weight groups."),
        Limit(READER, "READ_TIMEOUT_S", "seconds",
              "libhdf5 reads a Keras file in a child killed at this deadline (a crafted file can "
              "make it loop)."),
        Limit(READER, "CHILD_MEMORY_CAP", "bytes",
              "Address space of that child."),
    ),
)
