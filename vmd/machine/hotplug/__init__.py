"""How a board tells its guest about CPUs and hears back: the controller seam and its kinds."""
