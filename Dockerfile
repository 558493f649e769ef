# One image for every jobstream service and emulator; compose picks the module to run.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
COPY emulators ./emulators
COPY cli ./cli
COPY bench ./bench
COPY examples ./examples
RUN pip install --no-cache-dir .
USER nobody
