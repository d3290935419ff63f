// The mark that tells the development CA from the real J-LIS CA, whose names it copies: the
// development tools put it on their CA, and the backend refuses an anchor that carries it in
// production. A non-critical Netscape comment extension (an IA5String), which any verifier
// ignores and `openssl x509 -text` shows.
export const DEVELOPMENT_CA_MARK_OID = '2.16.840.1.113730.1.13';
export const DEVELOPMENT_CA_MARK_TEXT = 'MyKey development CA: never trust it in production';
