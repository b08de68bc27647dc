"""Files: downloading an export's files and decoding each format into lines."""
