"""The sample model: :class:`Sample`, :class:`Batch` and :func:`collate`."""

from biomm.data.sample import Batch, Sample, collate

__all__ = ["Batch", "Sample", "collate"]
