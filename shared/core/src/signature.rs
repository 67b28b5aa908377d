//! SM2-with-SM3 signatures over waybill canonical bytes (being written).
