"""Audio plumbing: resampling, file formats, and the Discord audio source."""
