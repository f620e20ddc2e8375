"""An example of your own code for nagexp: a network (`networks`) and a dataset (`shapes`)."""
