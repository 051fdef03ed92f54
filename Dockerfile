# One image for the four services; the command picks the service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt pyproject.toml ./
RUN pip install -r requirements.txt
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps .
RUN useradd --system --uid 10001 ehcp
USER ehcp
CMD ["python", "-m", "services.gateway"]
