"""nc plugin: hyperprior image codecs (``use: hyperprior`` with a hyperprior entropy model)."""
