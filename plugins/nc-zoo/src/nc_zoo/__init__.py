"""nc-zoo: trained image codecs shipped as package data (see README.md)."""
