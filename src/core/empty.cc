// The shared library is assembled from the static parts; this file gives it a source.
