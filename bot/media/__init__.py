"""Video and image work: PyAV and Pillow."""
