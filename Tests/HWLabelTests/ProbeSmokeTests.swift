import Testing
import HWLabelProbe
