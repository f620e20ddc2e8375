"""Reports: a sweep's files -> tables -> figures -> HTML/Markdown (and a comparison's)."""
