# Release images: all three, for both architectures, in one build.
#
#   REGISTRY=ghcr.io/owner/waveplot TAG=0.1.0 docker buildx bake -f deploy/docker-bake.hcl --push
#
# Building two platforms at once needs a builder that keeps multi-platform images (the
# docker-container driver: `docker buildx create --use`, or Docker's containerd image
# store); the Rust stages cross-compile, so neither platform is emulated. One platform
# into the local engine: `--set '*.platform=linux/arm64' --load`.

variable "REGISTRY" {
  # Where the images go: a registry path, in lower case, such as ghcr.io/owner/waveplot. The default
  # names local images, as compose.yaml does.
  default = "waveplot"
}

variable "TAG" {
  default = "0.1.0"
}

group "default" {
  targets = ["prepare", "plotter", "gateway"]
}

target "_image" {
  context    = "."
  dockerfile = "deploy/Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
}

target "prepare" {
  inherits = ["_image"]
  target   = "prepare"
  tags     = ["${REGISTRY}/prepare:${TAG}"]
}

target "plotter" {
  inherits = ["_image"]
  target   = "plotter"
  tags     = ["${REGISTRY}/plotter:${TAG}"]
}

target "gateway" {
  inherits = ["_image"]
  target   = "gateway"
  tags     = ["${REGISTRY}/gateway:${TAG}"]
}
