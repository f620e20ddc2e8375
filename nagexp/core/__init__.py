"""The base layer: errors, atomic file writes, import paths, names, seeds, provenance, wording,
clocks and the version; imports nothing else of nagexp."""
