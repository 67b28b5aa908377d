//! Signing: builds the e-waybill, signs it with SM2, and delivers it to the rider's inbox.
