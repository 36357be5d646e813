# The built-in model as a SageMaker inference container: `docker run IMAGE serve`
# runs `triage model-server` on the model SageMaker unpacked in /opt/ml/model
# (`triage model export` wrote it), with no database. README, "On AWS".
#
#   docker build -t triage-model .

FROM rust:1.95-trixie AS build
WORKDIR /src
# What every build of the `triage` binary needs (scripts/env.sh): Leptos's output
# name and its erased component types, compiled in.
ENV RUSTFLAGS="--cfg erase_components" \
    LEPTOS_OUTPUT_NAME=triage \
    CARGO_TARGET_DIR=/src/target
COPY . .
RUN cargo build --release --locked -p server --bin triage \
    && install -m 0755 target/release/triage /usr/local/bin/triage

FROM debian:trixie-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --home-dir /nonexistent triage
COPY --from=build /usr/local/bin/triage /usr/local/bin/triage
COPY docker/serve /usr/local/bin/serve
USER triage
EXPOSE 8080
# No ENTRYPOINT: SageMaker runs the image with the argument `serve`, found on PATH.
CMD ["serve"]
