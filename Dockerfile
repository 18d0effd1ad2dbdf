# Diffusion Studio's HTTP API on an NVIDIA GPU (seed 000's container).
# Build, run and put it behind TLS: docs/DEPLOY.md.
#
# The base is NVIDIA's smallest CUDA image, not a -runtime or -cudnn-runtime one:
# PyPI's torch wheel for Linux brings its own CUDA 13.0 runtime, cuBLAS and cuDNN
# as pip packages, so those images would add several GB of the same libraries in
# other versions. What the base gives is what the GPU needs from an image: the
# NVIDIA container runtime's settings (which GPUs, which driver libraries to
# mount) and NVIDIA_REQUIRE_CUDA, so a driver too old for CUDA 13.0 stops the
# container with the runtime's message instead of torch quietly using the CPU.
# Ubuntu 24.04's own python3 is 3.12. The pytorch/pytorch images were not used:
# their torch is another version, and pip would install ours beside it.
ARG BASE_IMAGE=nvidia/cuda:13.0.1-base-ubuntu24.04
FROM ${BASE_IMAGE}

# The index of the CUDA torch build. PyPI's Linux wheel of the pinned torch is the
# CUDA 13.0 build; for an older driver use a PyTorch index of CUDA 12.x, e.g.
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128, with a 12.x base.
ARG TORCH_INDEX=https://pypi.org/simple

# Build time only (an ENV would stay in the running container).
ARG DEBIAN_FRONTEND=noninteractive
# Not pinned (DL3008): Ubuntu replaces a package's version with each security fix.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3 python3-venv curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A venv of its own: Ubuntu's python3 refuses pip installs into the system.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
RUN python3 -m venv /opt/venv

# torch first and on its own, at the version scripts/pick_torch.py pins (declared
# there only): anything that depends on torch, installed before it, would pull
# whatever torch build the index offers. The build has no GPU to detect, so the
# index is named. The project is then installed with torch held at that version.
COPY scripts/pick_torch.py /tmp/pick_torch.py
RUN STUDIO_TORCH_INDEX="$TORCH_INDEX" python /tmp/pick_torch.py > /tmp/torch-args \
    && head -n 1 /tmp/torch-args > /tmp/torch-constraint.txt \
    && xargs pip install < /tmp/torch-args

# The project itself, without the dev or build extras. EXTRAS adds others: the
# Ray Serve image is built with --build-arg EXTRAS=[cluster] (docs/DEPLOY.md).
ARG EXTRAS=
WORKDIR /src
COPY pyproject.toml README.md ./
COPY studio ./studio
RUN pip install --constraint /tmp/torch-constraint.txt ".${EXTRAS}" \
    && if pip show --quiet torchvision 2>/dev/null; then \
         echo "torchvision was installed; it breaks diffusers beside this torch." >&2; exit 1; \
       fi \
    && studio --version \
    && rm -rf /src /tmp/pick_torch.py /tmp/torch-args /tmp/torch-constraint.txt

# Not root: a process that answers the network should not own the image.
# Models (the Hugging Face cache, HF_HOME) and the app's data (result cache,
# settings) live on one volume, so a new image keeps its downloads.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin studio \
    && mkdir -p /models \
    && chown studio:studio /models
ENV HF_HOME=/models \
    STUDIO_DATA_DIR=/models/studio
VOLUME ["/models"]
# Numeric, so a runtime that must prove it is not root (Kubernetes' runAsNonRoot) can.
USER 10001:10001
WORKDIR /home/studio

# STUDIO_API_TOKEN, HF_TOKEN and INCEPTION_API_KEY come from the environment at
# run time and are never written here. Without STUDIO_API_TOKEN the server refuses
# to listen on 0.0.0.0 and says so: it does not start open.
EXPOSE 8080
# /health needs no token and never loads a model. Shell form (DL3025 is about CMD):
# curl's own exit codes are not all ones docker defines, hence `|| exit 1`.
# hadolint ignore=DL3025
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 5 http://127.0.0.1:8080/health || exit 1
# Exec form: studio is PID 1 and gets docker stop's SIGTERM, which it handles as
# Ctrl+C (waiting jobs are answered 503, the running one stops at its next step).
CMD ["studio", "serve", "--host", "0.0.0.0", "--port", "8080"]
