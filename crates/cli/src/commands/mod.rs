pub mod audit;
pub mod ca;
pub mod device;
pub mod holder;
pub mod init;
pub mod operator;
pub mod serve;
pub mod sheet;
