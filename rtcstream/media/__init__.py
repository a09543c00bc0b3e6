"""Media: frame conversion, resampling, chunking, pacing and the output tracks."""
