"""Docker images for the docker backend, built offline."""
