FROM python:3.11-slim

# CPU-only torch first, so that sentence-transformers does not bring CUDA packages.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

WORKDIR /opt/lookalike
RUN pip install --no-cache-dir ${TORCH_PIP_ARGS} "${TORCH_SPEC}"
COPY pyproject.toml README.md workspace.yaml ./
COPY lookalike_assets ./lookalike_assets
COPY dbt_project ./dbt_project
RUN pip install --no-cache-dir -e ".[deploy]"

ENV DAGSTER_HOME=/opt/dagster/home \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
EXPOSE 3000
CMD ["dagster-webserver", "-w", "workspace.yaml", "-h", "0.0.0.0", "-p", "3000"]
