"""Writes web/mediapipe/selfie_segmenter.tflite, the model behind background blur and pictures.

MediaPipe's image segmenter (in @mediapipe/tasks-vision, which @livekit/track-processors runs) only
takes a model that carries TFLite metadata: it reads the input normalisation from it. The selfie
segmentation model (Apache-2.0) ships without metadata inside MediaPipe's Python package; this adds
what the segmenter task reads: the input scaled to [0, 1], and no activation on the output. The
result is committed, so neither the build nor the server needs this script or Python; the build
copies it next to MediaPipe's wasm (scripts/mediapipe-plugin.mjs).

    python3 -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.14
    /tmp/mp/bin/python web/scripts/selfie-model.py
"""

from pathlib import Path

import mediapipe
from mediapipe.tasks.python.metadata.metadata_writers import image_segmenter

SOURCE = Path(mediapipe.__file__).parent / "modules/selfie_segmentation/selfie_segmentation.tflite"
OUT = Path(__file__).resolve().parent.parent / "mediapipe/selfie_segmenter.tflite"

# The network takes RGB scaled to [0, 1] and ends in a sigmoid: one channel, the person's confidence.
writer = image_segmenter.MetadataWriter.create(
    bytearray(SOURCE.read_bytes()),
    input_norm_mean=[0.0],
    input_norm_std=[255.0],
    activation=image_segmenter.Activation.NONE,
)
model, _ = writer.populate()
OUT.write_bytes(model)
print(f"{OUT}: {len(model)} bytes from {SOURCE.name}")
