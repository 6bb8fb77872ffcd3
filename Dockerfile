# One image for every lookalike service: the Dagster code server, webserver and daemon, the one-shot migration,
# and the BI provisioning. tests/test_deploy.py builds the code location the way these steps do.
FROM python:3.11-slim

# CPU-only torch first, so that sentence-transformers does not bring CUDA packages.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

ENV DAGSTER_HOME=/opt/dagster/home \
    LOOKALIKE_HOME=/var/lib/lookalike \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /opt/lookalike
RUN pip install --no-cache-dir ${TORCH_PIP_ARGS} "${TORCH_SPEC}"
COPY pyproject.toml README.md workspace.yaml ./
COPY lookalike_assets ./lookalike_assets
COPY dbt_project ./dbt_project
COPY deploy ./deploy
RUN pip install --no-cache-dir -e ".[deploy]"
COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml

# build: the dbt manifest the code location loads its dbt assets from (never prepared at run time)
RUN dagster-dbt project prepare-and-package --file lookalike_assets/defs/analytics/dbt.py
# build: the code location loads as a deployment loads it (every asset, the dbt ones included); an instance of its
# own, since the deployment's storage is not there at build time
RUN mkdir -p /tmp/validate && DAGSTER_HOME=/tmp/validate dagster definitions validate -m lookalike_assets.definitions \
    && rm -rf /tmp/validate

EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "lookalike_assets.definitions"]
