import json

import cv2
import numpy as np
import tensorflow as tf

_model = None


def _get_model():
    global _model
    if _model is None:
        tf.keras.utils.set_random_seed(0)
        _model = tf.keras.Sequential([
            tf.keras.Input((32, 32, 3)),
            tf.keras.layers.Conv2D(4, 3, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(3, activation="softmax"),
        ])
    return _model


def handler(event, context):
    size = json.loads(event).get("size", 64)
    image = np.linspace(0, 255, size * size * 3, dtype=np.float32).reshape(size, size, 3).astype(np.uint8)
    small = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)
    scores = _get_model().predict(small[np.newaxis].astype("float32") / 255.0, verbose=0)[0]
    return json.dumps({"shape": list(small.shape), "scores": [round(float(s), 4) for s in scores],
                       "cv2": cv2.__version__, "tf": tf.__version__})
