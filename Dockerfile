# The project's processes (ingress, connector, ...) for docker-compose.yml and Kubernetes.
FROM node:26-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The `node` package is for machines without a current Node; this image already has one.
RUN npm install --omit=dev --no-audit --no-fund --ignore-scripts
COPY bin ./bin
COPY core ./core
COPY stack ./stack
COPY schemas ./schemas
COPY ingress ./ingress
COPY connector ./connector
COPY local-saas ./local-saas
USER node
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "bin/mailjet-connector.ts"]
CMD ["start"]
