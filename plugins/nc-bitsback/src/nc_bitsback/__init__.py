"""nc-bitsback: bits-back coding with latent-variable models."""
