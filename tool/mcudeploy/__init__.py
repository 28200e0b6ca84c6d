"""mcudeploy: PyTorch model -> compressed int8 C engine -> microcontroller, validated in the loop."""

__version__ = "0.1.0"
