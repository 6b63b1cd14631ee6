"""nc-video: learned low-latency video compression for nc (scale-space flow), and the video
I/O, colour conversions and metrics it needs."""
