/* fuzz_keys.h - public keys (and one token signed by the matching private
 * key, which was thrown away) shared by the JWT and JWKS fuzz targets. Made
 * with the openssl CLI; nothing here is secret. */
#ifndef MCPWALL_FUZZ_KEYS_H
#define MCPWALL_FUZZ_KEYS_H

static const char fuzz_jwks[] = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"fz-rsa\",\"n\":\"04Qh8mROYPwCNwuPFCFLE4M7Ovh9GqiwQdPyukLgmzX0X4PX7afSWjXMoytTxNJjUYAmCnSXecVQgvy1XixGfGE3w8_IXoYjVnWnxZv8r9Pdtw9aNSNCXpBeXuCD0YDxfUzcXTnZNqVB84NdZ9BMhE80miG_yVyHefCl7BrEEopKrCnm9_Qourk0d5ie2vvvs1ywGXTrKAufE8X2VEVL8cL8qD1AfRozkBNxfBh4YTwN1r175w0Szp8o9f1Kbz3k-zaJBUTBwhZ_6E-to3g-zyUqVKo1XyVSgCYD6N0eMDasTQKGVE1ppOGcNtCm75EaukdRJKfK1RcF6m8180tNUw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fz-ec\",\"x\":\"VO35i0rL79bhrq-p2uCt5xkD1EXqR6DlFRTwTBXptT4\",\"y\":\"TwFx1y1KPJ-Ymrk8AehoMORe_MTPkj-mZNFFmYRz2wA\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"fz-ed\",\"x\":\"_GtrlAO2CYVC0wcQYB7DFJX7XvdN2Dq4SdUIw18NQPQ\"}]}";

/* ES256 over {"alg":"ES256","kid":"fz-ec","typ":"JWT"} and the seed claims. */
static const char fuzz_es256_token[] = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ6LWVjIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lkcC5mdXp6IiwiYXVkIjoiaHR0cHM6Ly9ndy5mdXp6L21jcCIsInN1YiI6ImFsaWNlIiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3MDAwMDAwMDAsInNjb3BlIjoibWNwIHRvb2xzIiwicmVhbG1fYWNjZXNzIjp7InJvbGVzIjpbImRldiIsIm9wcyJdfSwicHJlZmVycmVkX3VzZXJuYW1lIjoiQWxpY2UifQ.t0vgAcw8uxl7fL5Fxs0KI7dzDHiHOD7gXeoFCc-9pIidAvPSeB36KMKeJWTgQzlPnnwOaih9Iuk7SEuZtf3NzA";

#endif
