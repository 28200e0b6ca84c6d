"""Model zoo: PyTorch ports of published reference models with their original weights.

``mlperf_tiny`` holds the four MLPerf Tiny reference models; ``keras_h5`` and ``tflite_reader``
read the reference files without TensorFlow, ``keras_ref`` is an independent numpy interpreter of
the Keras files used as the float reference when TensorFlow is absent.
"""
