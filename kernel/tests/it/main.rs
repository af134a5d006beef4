mod display;
