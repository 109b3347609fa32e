# The bundle's image: the official Freqtrade image at the pinned version, plus this package.
# Keep the tag equal to the freqtrade pin in pyproject.toml (a test checks it).
FROM freqtradeorg/freqtrade:2026.9

# Freqtrade and everything it depends on are already in the image; installing this
# package with --no-deps keeps them exactly as the Freqtrade team built them. Only the
# libraries Freqtrade itself does not bring are added, pinned as in pyproject.toml.
COPY --chown=ftuser:ftuser pyproject.toml README.md /opt/tradingbot/
COPY --chown=ftuser:ftuser app /opt/tradingbot/app
RUN pip install --user --no-cache-dir --no-deps /opt/tradingbot \
    && pip install --user --no-cache-dir \
        prometheus-client==0.26.0 \
        "psycopg[binary]==3.3.9" \
        pydantic-settings==2.16.3 \
        python-dotenv==1.2.4 \
        dask==2026.8.0 \
        distributed==2026.8.0

# The sweep profile's Dask workers cache job inputs here (a named volume, owned by ftuser).
RUN mkdir -p /home/ftuser/sweep-cache

# The guarded runner wraps every Freqtrade command: `docker compose run --rm freqtrade
# backtesting ...` runs `tradingbot freqtrade backtesting ...`.
ENTRYPOINT ["tradingbot", "freqtrade"]
CMD ["trade", "--dry-run", "--config", "/freqtrade/user_data/configs/config.testnet.json", "--strategy", "MaCrossoverStrategy"]
