"""Reference data shipped with ihconform (tables with their sources), read by the probes."""
