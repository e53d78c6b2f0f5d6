"""How sensitive each feature space's FD is to noise, blur and missing classes."""
