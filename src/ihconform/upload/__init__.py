"""Upload of the signed evidence bundle to the provincial platform (监管细则 第三十三条,
实施细则 第十二条): the client (:mod:`.client`), the reference receiver used by the tests and
demos (:mod:`.receiver`) and its throwaway PKI (:mod:`.tlsca`). The API is docs/upload-api.md."""

API_VERSION = "v1"
API_PREFIX = f"/api/{API_VERSION}/reports"
HDR_DIGEST = "X-IHC-Bundle-SHA256"
HDR_INSTITUTION = "X-IHC-Institution"
HDR_API = "X-IHC-API-Version"
