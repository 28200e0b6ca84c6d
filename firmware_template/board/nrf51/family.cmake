# Nordic nRF51: the legacy UART (TXD/RXD registers and events).
set(MCD_VENDOR nordic)     # board/nordic/: the nRF UART
set(MCD_UART_IP uart_nrf)
