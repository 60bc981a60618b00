"""Independent oracles the golden-capture tests compare the decoders against."""
