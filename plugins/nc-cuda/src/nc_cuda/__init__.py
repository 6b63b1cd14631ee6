"""nc-cuda: GPU execution for nc and a lane-interleaved rANS coder whose bytes are the same
on CPU and CUDA tensors."""
